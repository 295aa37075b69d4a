-- sfteval store, schema version 1.
-- One row per distinct checkpoint content: the hash covers weights, config and tokenizer files, so a moved
-- checkpoint keeps its row and a changed one gets a new row.
CREATE TABLE checkpoints (
    hash        VARCHAR PRIMARY KEY,   -- sha256 of the checkpoint's content (see sfteval/checkpoints.py)
    path        VARCHAR NOT NULL,      -- where it was last seen
    kind        VARCHAR NOT NULL,      -- hf | peft | gguf | hub | api
    base        VARCHAR,               -- adapters: the base model path or hub id
    params      JSON,                  -- what we know without loading it (files, bytes, gguf file name)
    first_seen  TIMESTAMP NOT NULL,
    last_seen   TIMESTAMP NOT NULL
);

-- One evaluation of one checkpoint on a set of tasks. A run that died keeps status 'running' or 'failed'
-- and is resumed by the next identical `sfteval run` (same fingerprint).
CREATE TABLE runs (
    id              VARCHAR PRIMARY KEY,
    checkpoint      VARCHAR NOT NULL,  -- checkpoints.hash
    fingerprint     VARCHAR NOT NULL,  -- sha256 of everything that decides the outputs
    tasks           VARCHAR[] NOT NULL,
    backend         VARCHAR NOT NULL,
    settings        JSON NOT NULL,     -- backend and generation settings, limit, chat template
    sfteval_version VARCHAR NOT NULL,
    git_sha         VARCHAR,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    status          VARCHAR NOT NULL,  -- running | finished | failed | interrupted
    error           VARCHAR
);

-- Corpus-level scores: one row per (run, task, metric), e.g. metric 'exact_match,flexible' or 'pass@1'.
CREATE TABLE scores (
    run_id  VARCHAR NOT NULL,
    task    VARCHAR NOT NULL,
    metric  VARCHAR NOT NULL,
    value   DOUBLE NOT NULL,
    stderr  DOUBLE,
    n       INTEGER NOT NULL,
    PRIMARY KEY (run_id, task, metric)
);

-- Per-sample outputs: `repeat` numbers the samples of one problem (pass@k with several samples).
CREATE TABLE samples (
    run_id    VARCHAR NOT NULL,
    task      VARCHAR NOT NULL,
    doc_id    INTEGER NOT NULL,
    repeat    INTEGER NOT NULL,
    prompt    VARCHAR NOT NULL,
    output    VARCHAR NOT NULL,
    target    VARCHAR,
    extracted JSON,                    -- filter name -> extracted answer or execution verdict
    metrics   JSON,                    -- metric name -> value for this problem
    score     DOUBLE,                  -- the task's primary metric for this sample
    PRIMARY KEY (run_id, task, doc_id, repeat)
);

-- The generation cache. The key hashes checkpoint content, backend settings, task fingerprint, prompt,
-- generation kwargs and the repeat index, so any change that could change an output misses the cache.
CREATE TABLE generations (
    key        VARCHAR PRIMARY KEY,
    output     VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
