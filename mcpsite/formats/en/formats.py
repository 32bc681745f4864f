# The admin shows times to the second: executions a few seconds apart must not look alike.
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s"
