"""Adapters that read the company's directory: LDAP / Active Directory and HR sheets.

Each returns a ``rulebook.roster.DirectoryRead`` or raises ``DirectorySourceError``; none of them
decides anything or writes anything. ``service.directory_sync`` ties them to the rules.
"""
