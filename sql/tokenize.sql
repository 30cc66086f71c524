-- Tokenizer round trips with the ids of the real SmolLM2 vocabulary.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS deepseek;
RESET client_min_messages;

SELECT deepseek_tokenize('Hello, world!');
SELECT deepseek_tokenize('The capital of France is Paris.');
SELECT deepseek_tokenize('');
SELECT deepseek_tokenize('   leading and trailing spaces   ');
SELECT deepseek_tokenize(E'line one\nline two\n\n\ttabbed');
SELECT deepseek_tokenize('Ünïcödé: naïve café, 日本語, emoji 🙂');
SELECT deepseek_tokenize('numbers 1234567 and 3.14159');
SELECT deepseek_tokenize('<|im_start|>user' || E'\n' || 'Hi<|im_end|>');

-- every text comes back unchanged
SELECT left(t, 24) AS text, deepseek_detokenize(deepseek_tokenize(t)) = t AS round_trip,
	   cardinality(deepseek_tokenize(t)) AS n_tokens
FROM (VALUES ('Hello, world!'),
			 ('The capital of France is Paris.'),
			 (''),
			 ('   leading and trailing spaces   '),
			 (E'line one\nline two\n\n\ttabbed'),
			 ('Ünïcödé: naïve café, 日本語, emoji 🙂'),
			 ('numbers 1234567 and 3.14159'),
			 ('<|im_start|>user' || E'\n' || 'Hi<|im_end|>'),
			 (repeat('PostgreSQL ', 200))) AS v(t);

-- single tokens, special ones included
SELECT deepseek_detokenize(ARRAY[19556]);
SELECT deepseek_detokenize(ARRAY[1, 4093, 198]);
SELECT deepseek_detokenize('{}');
