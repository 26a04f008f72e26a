-- Outbound IVR calls: which dialer attempt a call answered, and what the customer
-- decided in the flow (`result` nodes: an activation, a promise to pay, a survey score).
--
-- The link is written when the call starts (the dialplan passes BANKCC_ATTEMPT_ID
-- to the FastAGI script), so results survive a crash of the IVR mid-call.
ALTER TABLE calls
    ADD COLUMN attempt_id bigint REFERENCES attempts (id),
    ADD COLUMN results    jsonb  NOT NULL DEFAULT '{}';  -- name -> value, merged as result nodes run

CREATE INDEX calls_by_attempt ON calls (attempt_id) WHERE attempt_id IS NOT NULL;
