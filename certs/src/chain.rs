//! AMD certificate chain checks: ARK -> ASK/ASVK -> VCEK/VLEK.
