"""Call lists: uploading CSV/XLSX files of contacts into a campaign.

Pure parts: `columns` (headers to fields), `rows` (one row to a Contact or a
RowError), `copy_rows` (one row to a line of COPY text, as `rows` judges it),
`report` (the error CSV). File reading: `readers` (bytes to rows), `batches`
(rows to batches of COPY lines, in a thread or a worker process). The database
shell: `loader`.
"""
from dialer.lists.model import FIELDS, Contact, FileProblem, RowError

__all__ = ["FIELDS", "Contact", "FileProblem", "RowError"]
