-- sqlite_build.sql - builds and queries an indexed table in memory.
-- Run as: sqlite3 :memory: ".read sqlite_build.sql"
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, 'name-' || (x * 7919 % 200000), x % 97, x * 0.5 FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, val);
SELECT grp, count(*), sum(val) FROM t GROUP BY grp ORDER BY grp LIMIT 3;
SELECT count(DISTINCT name), max(length(name)) FROM t;
DELETE FROM t WHERE grp % 3 = 0;
SELECT count(*), total(val) FROM t;
