"""The GS1-conformant resolver: link types, linksets, redirects, the well-known description.

The default link of a serialised item is the verdict (``gs1:verificationService``), answered in
place; it is the only request that counts as a consumer scan (see ``docs/api.md``).
"""
