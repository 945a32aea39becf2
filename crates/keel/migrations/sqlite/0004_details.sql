-- Schema 4: process-specific fields of work items (problems, known errors, …), declared per
-- kind in keel_core::kernel::details and kept as one JSON object per item.
ALTER TABLE work_items ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
