"""Senim on the web: the credit officer's screen, the reviewer's desk and the admin pages,
mounted in the credit service at ``/web`` behind the same auth layer as the API."""
