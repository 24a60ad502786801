"""Outbound mail: render templates in the sandbox (``render``), build the bytes (``compose``) and
hand them on (``transports``). Never decides who gets mail; never imports store or service."""
