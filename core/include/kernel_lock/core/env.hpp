// Reading the environment the way huggingface_hub does.
#pragma once

namespace kernel_lock {

// True when the variable is set to "1", "ON", "YES" or "TRUE" (any case), as
// huggingface_hub's _is_true reads HF_HUB_OFFLINE and friends. Never throws.
bool env_true(const char* name) noexcept;

}  // namespace kernel_lock
