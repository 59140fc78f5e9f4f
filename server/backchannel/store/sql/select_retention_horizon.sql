SELECT pruned_xid, pruned_seq FROM event_retention
