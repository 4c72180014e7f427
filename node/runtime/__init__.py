"""Wiring: opening the chain (a dev Anvil or a configured RPC, the deployed
contract, the keystore) and the index, and assembling the node's parts.

May import every package of the node below the API.
"""
