-- Relationship and agreement (ISO/IEC 20000-1 8.3), supply and demand (8.4) and service
-- assurance (8.7): the registers declared in keel_core::operation::REGISTERS (columns are their
-- fields), references to several records, capacity samples and threshold events.

CREATE TABLE record_refs (
    register  TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    field     TEXT NOT NULL,
    target    TEXT NOT NULL,
    PRIMARY KEY (register, record_id, field, target)
);
CREATE INDEX record_refs_target ON record_refs(register, field, target);

-- One account per customer (8.3.2).
CREATE TABLE customer_accounts (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL UNIQUE REFERENCES customers(id),
    relationship_manager_id BIGINT REFERENCES users(id),
    sector TEXT,
    review_frequency TEXT,
    status TEXT,
    notes TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Customers' contacts (8.3.2).
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    name TEXT NOT NULL,
    role TEXT,
    email TEXT,
    phone TEXT,
    user_id BIGINT REFERENCES users(id),
    active BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Service reviews held with customers (8.3.2).
CREATE TABLE service_reviews (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    service_id BIGINT REFERENCES services(id),
    scheduled_on TEXT NOT NULL,
    status TEXT,
    held_on TEXT,
    attendees TEXT,
    minutes TEXT,
    actions TEXT,
    satisfaction BIGINT,
    next_review TEXT,
    owner_id BIGINT REFERENCES users(id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Customer satisfaction surveys (8.3.2).
CREATE TABLE surveys (
    id INTEGER PRIMARY KEY,
    kind TEXT,
    respondent_id BIGINT NOT NULL REFERENCES users(id),
    customer_id BIGINT REFERENCES customers(id),
    service_id BIGINT REFERENCES services(id),
    item TEXT,
    sent_on TEXT NOT NULL,
    status TEXT,
    score BIGINT,
    comment TEXT,
    answered_on TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Suppliers (8.3.4).
CREATE TABLE suppliers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT,
    contact_name TEXT,
    email TEXT,
    phone TEXT,
    owner_id BIGINT REFERENCES users(id),
    status TEXT,
    notes TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- SLAs, OLAs and underpinning contracts (8.3.3).
CREATE TABLE agreements (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    group_id BIGINT REFERENCES support_groups(id),
    supplier_id BIGINT REFERENCES suppliers(id),
    status TEXT,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    review_date TEXT,
    agreement_version TEXT,
    availability_target BIGINT,
    other_targets TEXT,
    owner_id BIGINT REFERENCES users(id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Why a month's target was missed (8.3.3).
CREATE TABLE breach_explanations (
    id INTEGER PRIMARY KEY,
    agreement_id BIGINT NOT NULL REFERENCES agreements(id),
    month TEXT NOT NULL,
    target TEXT NOT NULL,
    explanation TEXT NOT NULL,
    actions TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Supplier contracts (8.3.4).
CREATE TABLE contracts (
    id INTEGER PRIMARY KEY,
    supplier_id BIGINT NOT NULL REFERENCES suppliers(id),
    reference TEXT NOT NULL,
    title TEXT NOT NULL,
    scope TEXT,
    obligations TEXT,
    targets TEXT,
    value BIGINT,
    currency TEXT,
    starts_on TEXT NOT NULL,
    ends_on TEXT,
    notice_days BIGINT,
    status TEXT,
    owner_id BIGINT REFERENCES users(id),
    renewal_warned_at BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Supplier performance reviews (8.3.4).
CREATE TABLE supplier_reviews (
    id INTEGER PRIMARY KEY,
    supplier_id BIGINT NOT NULL REFERENCES suppliers(id),
    contract_id BIGINT REFERENCES contracts(id),
    held_on TEXT NOT NULL,
    rating BIGINT NOT NULL,
    targets_met BIGINT,
    findings TEXT,
    actions TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Contract disputes (8.3.4).
CREATE TABLE disputes (
    id INTEGER PRIMARY KEY,
    supplier_id BIGINT NOT NULL REFERENCES suppliers(id),
    contract_id BIGINT REFERENCES contracts(id),
    subject TEXT NOT NULL,
    raised_on TEXT NOT NULL,
    description TEXT,
    status TEXT,
    resolution TEXT,
    resolved_on TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Budgets per service and period (8.4.1); amounts in thousandths.
CREATE TABLE budgets (
    id INTEGER PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services(id),
    period TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT,
    owner_id BIGINT REFERENCES users(id),
    notes TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Costs incurred (8.4.1); amounts in thousandths.
CREATE TABLE costs (
    id INTEGER PRIMARY KEY,
    incurred_on TEXT NOT NULL,
    description TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT,
    kind TEXT,
    category TEXT,
    service_id BIGINT REFERENCES services(id),
    customer_id BIGINT REFERENCES customers(id),
    asset TEXT,
    contract_id BIGINT REFERENCES contracts(id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Forecast demand per service and month (8.4.2).
CREATE TABLE demand_forecasts (
    id INTEGER PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services(id),
    month TEXT NOT NULL,
    measure TEXT,
    forecast BIGINT NOT NULL,
    notes TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Capacity plans (8.4.3); amounts in thousandths.
CREATE TABLE capacity_plans (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    service_id BIGINT REFERENCES services(id),
    ci_id BIGINT REFERENCES cis(id),
    ci_class_id BIGINT REFERENCES ci_classes(id),
    resource TEXT NOT NULL,
    unit TEXT,
    capacity BIGINT,
    forecast BIGINT,
    horizon TEXT,
    warning_at BIGINT NOT NULL,
    critical_at BIGINT NOT NULL,
    raise_incident BIGINT,
    status TEXT,
    review_date TEXT,
    owner_id BIGINT REFERENCES users(id),
    notes TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Availability targets per service (8.7.1); thousandths of a percent.
CREATE TABLE availability_targets (
    id INTEGER PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services(id),
    target BIGINT NOT NULL,
    valid_from TEXT NOT NULL,
    notes TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Outages per service (8.7.1); instants in epoch ms.
CREATE TABLE outages (
    id INTEGER PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services(id),
    description TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    scheduled BIGINT,
    incident TEXT,
    cause TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- RTO and RPO per service (8.7.2).
CREATE TABLE continuity_requirements (
    id INTEGER PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services(id),
    rto_minutes BIGINT NOT NULL,
    rpo_minutes BIGINT NOT NULL,
    minimum_service TEXT,
    source TEXT,
    review_date TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Continuity plans (8.7.2).
CREATE TABLE continuity_plans (
    id INTEGER PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services(id),
    title TEXT NOT NULL,
    plan_version TEXT,
    status TEXT,
    owner_id BIGINT NOT NULL REFERENCES users(id),
    content TEXT,
    approved_by BIGINT REFERENCES users(id),
    approved_on TEXT,
    next_test_due TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Tests of continuity plans (8.7.2).
CREATE TABLE continuity_tests (
    id INTEGER PRIMARY KEY,
    plan_id BIGINT NOT NULL REFERENCES continuity_plans(id),
    tested_on TEXT NOT NULL,
    kind TEXT,
    scenario TEXT NOT NULL,
    result TEXT NOT NULL,
    rto_achieved_minutes BIGINT,
    findings TEXT,
    actions TEXT,
    improvement TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Invocations of continuity plans (8.7.2).
CREATE TABLE continuity_invocations (
    id INTEGER PRIMARY KEY,
    plan_id BIGINT NOT NULL REFERENCES continuity_plans(id),
    invoked_at BIGINT NOT NULL,
    ended_at BIGINT,
    reason TEXT NOT NULL,
    incident TEXT,
    decided_by BIGINT REFERENCES users(id),
    outcome TEXT,
    lessons TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Information security controls (8.7.3).
CREATE TABLE security_controls (
    id INTEGER PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    applicable BIGINT,
    justification TEXT,
    status TEXT,
    owner_id BIGINT REFERENCES users(id),
    review_date TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id)
);

-- Utilisation samples pushed by monitoring (8.4.3); values in thousandths.
CREATE TABLE capacity_metrics (
    id       INTEGER PRIMARY KEY,
    plan_id  BIGINT NOT NULL REFERENCES capacity_plans(id),
    at       BIGINT NOT NULL,
    value    BIGINT NOT NULL,
    source   TEXT
);
CREATE INDEX capacity_metrics_plan ON capacity_metrics(plan_id, at);

-- Each plan's latest level, so a crossing is raised once, not per sample.
CREATE TABLE capacity_status (
    plan_id  BIGINT PRIMARY KEY REFERENCES capacity_plans(id),
    level    TEXT NOT NULL,
    value    BIGINT NOT NULL,
    at       BIGINT NOT NULL
);

-- Threshold crossings (8.4.3) and the incident raised for one, if any.
CREATE TABLE capacity_events (
    id       INTEGER PRIMARY KEY,
    plan_id  BIGINT NOT NULL REFERENCES capacity_plans(id),
    at       BIGINT NOT NULL,
    level    TEXT NOT NULL,
    value    BIGINT NOT NULL,
    incident TEXT
);
CREATE INDEX capacity_events_plan ON capacity_events(plan_id, at);


CREATE INDEX contacts_customer ON contacts(customer_id);
CREATE INDEX service_reviews_customer ON service_reviews(customer_id, scheduled_on);
CREATE INDEX surveys_respondent ON surveys(respondent_id, status);
CREATE UNIQUE INDEX surveys_item ON surveys(item);
CREATE INDEX contracts_supplier ON contracts(supplier_id);
CREATE INDEX costs_incurred ON costs(incurred_on);
CREATE INDEX budgets_service ON budgets(service_id, period);
CREATE UNIQUE INDEX demand_forecasts_key ON demand_forecasts(service_id, month, measure);
CREATE INDEX outages_service ON outages(service_id, started_at);
CREATE INDEX continuity_tests_plan ON continuity_tests(plan_id, tested_on);
