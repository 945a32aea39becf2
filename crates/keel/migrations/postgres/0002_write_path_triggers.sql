-- Schema 2: fewer round trips per write (see the SQLite migration of the same name).
ALTER TABLE work_items ADD COLUMN created_by BIGINT REFERENCES users(id);

CREATE FUNCTION work_items_first_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO work_item_transitions (item_id, from_state, to_state, at, actor_id)
    VALUES (NEW.id, NULL, NEW.state, NEW.created_at, NEW.created_by);
    RETURN NULL;
END $$;
CREATE TRIGGER work_items_first_state AFTER INSERT ON work_items
    FOR EACH ROW EXECUTE FUNCTION work_items_first_state();

CREATE FUNCTION audit_log_advance_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_head SET last_hash = NEW.hash WHERE id = 1;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_log_advance_head AFTER INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_advance_head();
