-- Schema 10: indexes for the queue shapes the 1,000,000-item list benchmark measures
-- (docs/benchmarks.md): a group's queue by priority, one's own items by last update.
CREATE INDEX work_items_group_priority ON work_items (kind, assignment_group_id, priority, id);
CREATE INDEX work_items_assignee_updated ON work_items (kind, assignee_id, updated_at, id);
