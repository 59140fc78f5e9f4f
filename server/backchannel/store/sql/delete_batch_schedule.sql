DELETE FROM batch_schedules WHERE recipient_id = :recipient_id
