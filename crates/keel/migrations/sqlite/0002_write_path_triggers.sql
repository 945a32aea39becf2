-- Schema 2: fewer round trips per write.
-- * work_items.created_by records who raised the item, and a trigger records the item's first
--   state entry from it (one statement less per create).
-- * A trigger advances the audit chain head with each appended entry (one statement less per
--   audited write). The application still takes the head row first (UPDATE … RETURNING), which
--   is what serializes appends.
ALTER TABLE work_items ADD COLUMN created_by BIGINT REFERENCES users(id);

CREATE TRIGGER work_items_first_state AFTER INSERT ON work_items
BEGIN
    INSERT INTO work_item_transitions (item_id, from_state, to_state, at, actor_id)
    VALUES (NEW.id, NULL, NEW.state, NEW.created_at, NEW.created_by);
END;

CREATE TRIGGER audit_log_advance_head AFTER INSERT ON audit_log
BEGIN
    UPDATE audit_head SET last_hash = NEW.hash WHERE id = 1;
END;
