// SimGrid's context factory for every engine headroom starts (engine.cpp, platform.cpp): raw contexts switch
// stacks by hand, which AddressSanitizer cannot follow, so under it one thread per actor (40x slower, build notes).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define HEADROOM_CONTEXTS "--cfg=contexts/factory:thread"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEADROOM_CONTEXTS "--cfg=contexts/factory:thread"
#endif
#endif
#ifndef HEADROOM_CONTEXTS
#define HEADROOM_CONTEXTS "--cfg=contexts/factory:raw"
#endif
