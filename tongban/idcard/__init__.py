"""Second-generation ID-card readers (二代身份证阅读器): URLs, frames, transports, one read.

Light on import: config.py parses reader URLs through `config.py` here without loading pyserial;
the transports are imported only when a port is opened (docs/idcard.md).
"""
