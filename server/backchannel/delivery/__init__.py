"""The delivery engine: claim due deliveries, render, send, record, schedule retries."""
