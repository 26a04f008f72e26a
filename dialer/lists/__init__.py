"""Call lists: uploading CSV/XLSX files of contacts into a campaign.

Pure parts: `columns` (headers to fields), `rows` (one row to a Contact or a
RowError), `report` (the error CSV). File reading: `readers`. The database
shell: `loader`.
"""
from dialer.lists.model import FIELDS, Contact, FileProblem, RowError

__all__ = ["FIELDS", "Contact", "FileProblem", "RowError"]
