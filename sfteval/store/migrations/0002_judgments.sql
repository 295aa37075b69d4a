-- sfteval store, schema version 2: the judge cache.
-- One row per judgment of one judge on one rendered judge prompt. FastChat re-asks the judge on every run;
-- here a rerun, or a run resumed after a kill, reads what was judged before and asks only for the rest.
CREATE TABLE judgments (
    judge             VARCHAR NOT NULL,  -- judge model id: API model name or local checkpoint hash
    mode              VARCHAR NOT NULL,  -- generate (parse the written rating) | logprob (expected rating)
    prompt_name       VARCHAR NOT NULL,  -- FastChat judge prompt: single-v1, single-math-v1-multi-turn, pair-v2, ...
    question_id       INTEGER NOT NULL,
    turn              INTEGER NOT NULL,
    prompt_hash       VARCHAR NOT NULL,  -- sha256 of the judge messages: answers, question, reference, template
    judgment          VARCHAR NOT NULL,  -- the judge's reply
    score             DOUBLE,            -- rating (-1: none written), expected rating (logprob); NULL for pairwise
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    created_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (judge, mode, prompt_name, question_id, turn, prompt_hash)
);
