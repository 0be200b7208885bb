DROP TABLE user_features;
