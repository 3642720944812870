-- +goose Up
-- How often the sweep re-enqueued a request's execution job. It was counted
-- from the audit trail; the trail records state, it does not hold it.
ALTER TABLE requests ADD COLUMN requeues integer NOT NULL DEFAULT 0 CHECK (requeues >= 0);
UPDATE requests r SET requeues = e.n
FROM (SELECT request_id, count(*) AS n FROM audit_events
      WHERE kind = 'execution.requeued' GROUP BY request_id) e
WHERE e.request_id = r.id;

-- +goose Down
ALTER TABLE requests DROP COLUMN requeues;
