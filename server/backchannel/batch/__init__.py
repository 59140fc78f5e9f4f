"""Batch delivery: feedback for a batch recipient goes out as scheduled files (CSV, JSONL,
XML, XLSX; compressed, encrypted) through its transport's ``send_file``.

The pieces, each in its own module: ``config`` (a recipient's batch settings, read and
checked), ``schedule`` (cron in an IANA zone), ``naming`` (file names), ``rows`` (a
feedback's row and its validation), ``writers`` (file formats), ``pipeline`` (compression,
encryption, spooling), ``openpgp`` (GnuPG), ``builder`` (membership first, then render),
``sender`` (one attempt), ``engine`` (the loops that run them).
"""
