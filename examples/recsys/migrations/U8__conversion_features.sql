-- Undo V8.
DROP TABLE conversion_features;
