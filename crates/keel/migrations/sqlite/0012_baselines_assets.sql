-- Schema 12: CMDB baselines and configuration verification (8.2.6), assets and licences (8.2.5).

-- A named snapshot of CIs and the relationships among them. Keys are "class/identity key", so a
-- baseline still compares after CIs are renamed, retired or re-created by an import.
CREATE TABLE baselines (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    -- The class the baseline was limited to, if any.
    class_id     BIGINT REFERENCES ci_classes(id),
    ci_count     BIGINT NOT NULL,
    rel_count    BIGINT NOT NULL,
    created_by   BIGINT REFERENCES users(id),
    created_at   BIGINT NOT NULL
);
CREATE TABLE baseline_cis (
    baseline_id  BIGINT NOT NULL REFERENCES baselines(id),
    ci_key       TEXT NOT NULL,
    ci_id        BIGINT NOT NULL,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,
    attributes   TEXT NOT NULL,
    PRIMARY KEY (baseline_id, ci_key)
);
CREATE TABLE baseline_rels (
    baseline_id  BIGINT NOT NULL REFERENCES baselines(id),
    source_key   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    target_key   TEXT NOT NULL,
    PRIMARY KEY (baseline_id, source_key, kind, target_key)
);

-- A verification run: a discovery file compared with the CMDB, its differences (JSON) and which
-- of them were accepted into the CMDB.
CREATE TABLE configuration_audits (
    id           INTEGER PRIMARY KEY,
    number       TEXT NOT NULL UNIQUE,
    source       TEXT NOT NULL,
    -- comma-separated class names the file covered
    classes      TEXT NOT NULL,
    differences  TEXT NOT NULL,
    accepted     TEXT NOT NULL DEFAULT '[]',
    state        TEXT NOT NULL,
    created_by   BIGINT REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE assets (
    id              INTEGER PRIMARY KEY,
    tag             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    -- hardware, software, licence, contract_item
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    owner_id        BIGINT REFERENCES users(id),
    location        TEXT NOT NULL DEFAULT '',
    cost_cents      BIGINT,
    currency        TEXT NOT NULL DEFAULT 'EUR',
    supplier        TEXT NOT NULL DEFAULT '',
    contract_ref    TEXT NOT NULL DEFAULT '',
    purchase_date   TEXT,
    warranty_end    TEXT,
    expiry_date     TEXT,
    -- licences: how many installations the entitlement covers
    entitlements    BIGINT,
    ci_id           BIGINT REFERENCES cis(id),
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX assets_warranty ON assets (warranty_end);
CREATE INDEX assets_expiry ON assets (expiry_date);

-- A licence installed on a configuration item.
CREATE TABLE asset_installations (
    licence_id  BIGINT NOT NULL REFERENCES assets(id),
    ci_id       BIGINT NOT NULL REFERENCES cis(id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (licence_id, ci_id)
);
