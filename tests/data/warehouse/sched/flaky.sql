-- fails (division by zero) on tries 1 and 2, succeeds on try 3
SELECT 1 / ({{ try_number }} / 3)
