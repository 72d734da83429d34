#include "virtio/net/mmds/tcp.h"
