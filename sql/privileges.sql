-- Functions are revoked from PUBLIC and granted to deepseek_user.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS deepseek;
RESET client_min_messages;

CREATE ROLE regress_deepseek_nobody;
CREATE ROLE regress_deepseek_app;
GRANT deepseek_user TO regress_deepseek_app;

SET ROLE regress_deepseek_nobody;
SELECT deepseek_generate('Hi', max_tokens => 1);
SELECT deepseek_tokenize('Hi');
SELECT deepseek_detokenize(ARRAY[1]);
SELECT state FROM deepseek_stat_worker;
RESET ROLE;

SET ROLE regress_deepseek_app;
SELECT length(deepseek_generate('Hi', max_tokens => 1)) > 0 AS generated;
SELECT deepseek_tokenize('Hi');
SELECT state FROM deepseek_stat_worker;
RESET ROLE;

-- deepseek_admin can do what deepseek_user can
SELECT pg_has_role('deepseek_admin', 'deepseek_user', 'MEMBER') AS admin_is_user;

DROP ROLE regress_deepseek_nobody;
DROP ROLE regress_deepseek_app;
