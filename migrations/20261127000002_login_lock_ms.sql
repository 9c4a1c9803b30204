-- Throttle locks in milliseconds: with whole seconds, a one-second lock set
-- late in a second lasted almost nothing. The other timestamps stay in seconds.
ALTER TABLE login_failures RENAME COLUMN locked_until TO locked_until_ms;
UPDATE login_failures SET locked_until_ms = locked_until_ms * 1000;
