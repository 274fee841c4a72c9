//! NAE exit codes and the typed SW_EXITINFO2 result of a guest request.
