-- Every change to a user is announced to every replica, which then forget
-- the user from memory (host/src/store/user_cache.rs). PostgreSQL delivers
-- the notification when the change commits, whoever made it.
CREATE FUNCTION switchboard_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('switchboard_users', OLD.id);
    ELSE
        PERFORM pg_notify('switchboard_users', NEW.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION switchboard_user_changed();
