-- Bearer tokens: only the SHA-256 of a token's text is stored (a token is 32 random bytes,
-- so a fast hash is enough: nothing can be guessed from it). Revoking sets revoke_time;
-- rows are kept so the audit trail and ListTokens can still name them.
CREATE TABLE access_tokens (
    id             text PRIMARY KEY,
    name           text NOT NULL,
    token_sha256   bytea NOT NULL UNIQUE,
    scopes         text[] NOT NULL,
    source_ids     text[] NOT NULL DEFAULT '{}',
    recipient_ids  text[] NOT NULL DEFAULT '{}',
    create_time    timestamptz NOT NULL DEFAULT now(),
    expire_time    timestamptz,
    last_use_time  timestamptz,
    revoke_time    timestamptz,
    created_by     text NOT NULL
);

-- Every change a caller made, written in the transaction of the change. Append-only: the
-- API has no path to change or delete a record, and these triggers refuse UPDATE, DELETE
-- and TRUNCATE for every role except in the pruning transaction of records past the
-- retention (store.audit.prune_audit_records), which says so with a setting of its own.
-- A DBA who wants the database itself to guarantee it gives the server's role INSERT and
-- SELECT only on this table (see README, "Audit trail").
CREATE TABLE audit_records (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              text NOT NULL UNIQUE,
    create_time     timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    actor_kind      text NOT NULL,
    actor_token_id  text NOT NULL DEFAULT '',
    action          text NOT NULL,
    target          text NOT NULL,
    changes         jsonb NOT NULL DEFAULT '[]',
    details         jsonb NOT NULL DEFAULT '{}',
    request_id      text NOT NULL DEFAULT '',
    trace_id        text NOT NULL DEFAULT '',
    recipient_id    text,
    source_id       text
);
CREATE INDEX audit_records_create_time ON audit_records (create_time);

CREATE FUNCTION refuse_audit_record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('backchannel.audit_pruning', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit records are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_records_append_only
BEFORE UPDATE OR DELETE ON audit_records
FOR EACH ROW EXECUTE FUNCTION refuse_audit_record_change();

CREATE TRIGGER audit_records_never_truncated
BEFORE TRUNCATE ON audit_records
FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_record_change();
