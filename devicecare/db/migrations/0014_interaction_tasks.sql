-- Actionable interactions ("tasks"): a store visit or call-back the owner accepted, or a
-- call-back the notifier escalated to the hotline. A task is an interaction with a status;
-- plain timeline entries keep status NULL. Closing records the result, which confirms the
-- finding (fault_found) or makes it a false alarm (no_fault_found).
ALTER TABLE interactions
    ADD COLUMN status    text CHECK (status IN ('open', 'closed')),
    ADD COLUMN due_at    timestamptz,
    ADD COLUMN closed_at timestamptz,
    ADD COLUMN result    text CHECK (result IN ('fault_found', 'no_fault_found')),
    ADD CONSTRAINT interactions_task_closed
        CHECK ((status = 'closed') = (closed_at IS NOT NULL AND result IS NOT NULL));
CREATE INDEX interactions_open_tasks_idx ON interactions (due_at, interaction_id)
    WHERE status = 'open';
