#include "virtio/net/mmds/frames.h"
