-- sfteval store, schema version 3: what the trainer made, and from what.
-- A mixture is a set of SFT examples drawn from sources; its manifest lists every example id, so the same
-- mixture can be rebuilt and audited. The hash covers the manifest without token counts (those depend on
-- the tokenizer, the examples do not).
CREATE TABLE mixtures (
    hash             VARCHAR PRIMARY KEY,  -- sha256 of the manifest's seed, sources, amounts, ids and content
    seed             INTEGER NOT NULL,
    n_examples       INTEGER NOT NULL,
    tokens           BIGINT,               -- under the stage's tokenizer and template (NULL until counted)
    trainable_tokens BIGINT,               -- assistant tokens: the ones with a loss
    manifest         JSON NOT NULL,        -- {seed, sources: {name: {path, format, amount, n, ids, sha256}}, dropped}
    created_at       TIMESTAMP NOT NULL
);

-- A training stage, content-addressed: the same start weights, mixture, hyperparameters and seed give the
-- same hash, so a stage shared by several grid cells is trained once.
CREATE TABLE stages (
    hash         VARCHAR PRIMARY KEY,
    parent       VARCHAR,               -- the stage whose weights this one starts from; NULL: the base model
    base         VARCHAR NOT NULL,      -- the base checkpoint as written in the config (path, hub id, demo:)
    base_hash    VARCHAR NOT NULL,      -- checkpoints.hash of the base
    mixture      VARCHAR NOT NULL,      -- mixtures.hash
    hyperparams  JSON NOT NULL,         -- TrainSettings
    status       VARCHAR NOT NULL,      -- training | finished | failed
    path         VARCHAR,               -- the saved model directory
    checkpoint   VARCHAR,               -- checkpoints.hash of the saved model, once finished
    metrics      JSON,                  -- losses, tokens, tokens/s, padding share, peak memory, runtime
    error        VARCHAR,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP
);

-- Where each stage sits in a grid: a cell is one strategy at one data amount; its stages run in order.
CREATE TABLE grid_cells (
    grid         VARCHAR NOT NULL,      -- the grid config's name
    cell         VARCHAR NOT NULL,      -- e.g. "dmt k=1/4 @1/16", "single math @1"
    strategy     VARCHAR NOT NULL,      -- single | multitask | sequential | mixed_sequential | dmt | ratio
    stage_index  INTEGER NOT NULL,      -- 0-based position of the stage in the cell
    n_stages     INTEGER NOT NULL,
    stage        VARCHAR NOT NULL,      -- stages.hash
    sources      VARCHAR[] NOT NULL,    -- the sources trained on in this stage
    fractions    JSON NOT NULL,         -- source -> fraction of it in this stage, e.g. {"math": "1/16"}
    k            VARCHAR,               -- dmt: the fraction of code+math data replayed in stage 2
    PRIMARY KEY (grid, cell, stage_index)
);
