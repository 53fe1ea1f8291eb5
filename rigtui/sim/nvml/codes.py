"""The numbers ``nvml.h`` defines that the simulated library answers with.

Return codes (``nvmlReturn_t``) and their messages as ``nvmlErrorString`` gives them, and the
field ids and value types of ``nvmlDeviceGetFieldValues``.
"""

from __future__ import annotations

# --- return codes (nvml.h: nvmlReturn_t) ------------------------------------------------------
SUCCESS = 0
ERROR_UNINITIALIZED = 1
ERROR_INVALID_ARGUMENT = 2
ERROR_NOT_SUPPORTED = 3
ERROR_NO_PERMISSION = 4
ERROR_NOT_FOUND = 6
ERROR_INSUFFICIENT_SIZE = 7
ERROR_DRIVER_NOT_LOADED = 9
ERROR_FUNCTION_NOT_FOUND = 13
ERROR_GPU_IS_LOST = 15
ERROR_ARGUMENT_VERSION_MISMATCH = 25
ERROR_UNKNOWN = 999

ERROR_STRINGS = {
    0: "Success",
    1: "Uninitialized",
    2: "Invalid Argument",
    3: "Not Supported",
    4: "Insufficient Permissions",
    5: "Already Initialized",
    6: "Not Found",
    7: "Insufficient Size",
    8: "Insufficient External Power",
    9: "Driver Not Loaded",
    10: "Timeout",
    11: "Interrupt request issue",
    12: "NVML Shared Library Not Found",
    13: "Function Not Found",
    14: "Corrupted infoROM",
    15: "GPU is lost",
    16: "GPU requires restart",
    17: "The operating system has blocked the request",
    18: "RM has detected an NVML/RM version mismatch",
    19: "In use by another client",
    20: "Insufficient Memory",
    21: "No data",
    25: "Argument version mismatch",
    999: "Unknown Error",
}

NOT_AVAILABLE_ULL = 0xFFFFFFFFFFFFFFFF

# Field ids (nvml.h NVML_FI_*) and value types.
FI_DEV_TOTAL_ENERGY_CONSUMPTION = 83
FI_DEV_POWER_AVERAGE = 185
FI_DEV_POWER_INSTANT = 186
VALUE_TYPE_UNSIGNED_INT = 1
VALUE_TYPE_UNSIGNED_LONG_LONG = 3
