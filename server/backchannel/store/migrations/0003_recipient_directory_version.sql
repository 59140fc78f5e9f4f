-- A counter bumped by every change to recipients, in the changing transaction: a replica
-- whose in-memory directory is older than it re-reads the recipients before choosing
-- subscribers, so a recipient change acknowledged anywhere is seen everywhere.
CREATE TABLE recipient_directory_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL
);
INSERT INTO recipient_directory_version (version) VALUES (1);

CREATE FUNCTION bump_recipient_directory_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE recipient_directory_version SET version = version + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER recipients_changed
AFTER INSERT OR UPDATE OR DELETE ON recipients
FOR EACH STATEMENT EXECUTE FUNCTION bump_recipient_directory_version();
