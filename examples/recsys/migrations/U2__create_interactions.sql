DROP INDEX interactions_user_time;
DROP TABLE interactions;
