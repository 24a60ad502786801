"""What a stored mail means for its thread, ledgers and items: the after-store rules, pure.

``model`` holds the frozen snapshots a batch of mail is understood with and the one value that
comes out (``Changes``); ``rules`` the single decisions (which thread, which ledger line an answer
fills, when an early answer counts, which items a 已完成 closes); ``tracker`` applies them to a
batch, mail by mail. Loading the snapshots and writing the changes is ``store.tracking``'s job.
"""
