-- Greedy output of the real model: deterministic text for a given prompt.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS deepseek;
RESET client_min_messages;

SELECT deepseek_generate('The capital of France is', max_tokens => 8);
SELECT deepseek_generate('1, 2, 3, 4, 5,', max_tokens => 12);
SELECT deepseek_generate(E'<|im_start|>user\nWhat is PostgreSQL?<|im_end|>\n<|im_start|>assistant\n',
						 max_tokens => 32);

-- the same prompt twice gives the same text
SELECT deepseek_generate('Once upon a time', max_tokens => 16)
	 = deepseek_generate('Once upon a time', max_tokens => 16) AS repeatable;

-- a stop string ends the text before it
SELECT deepseek_generate('1, 2, 3, 4, 5,', max_tokens => 12, stop => ARRAY['8']);

-- max_tokens bounds the output
SELECT cardinality(deepseek_tokenize(
		deepseek_generate('1, 2, 3, 4, 5,', max_tokens => 5))) <= 5 AS bounded;

-- an instruct answer ends at the end-of-turn token, well before max_tokens
SELECT deepseek_generate(E'<|im_start|>user\nSay only the word yes.<|im_end|>\n<|im_start|>assistant\n',
						 max_tokens => 64);

-- sampling with a seed is repeatable too
SELECT deepseek_generate('Once upon a time', max_tokens => 16, temperature => 0.8, seed => 42)
	 = deepseek_generate('Once upon a time', max_tokens => 16, temperature => 0.8, seed => 42)
	 AS seeded_repeatable;

-- generate over the rows of a table
CREATE TABLE capitals (country text, answer text);
INSERT INTO capitals (country) VALUES ('Germany'), ('Japan'), ('Spain');
UPDATE capitals
   SET answer = deepseek_generate('The capital of ' || country || ' is', max_tokens => 4);
SELECT country, answer FROM capitals ORDER BY country;
DROP TABLE capitals;
