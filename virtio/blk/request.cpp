#include "virtio/blk/request.h"

#include "virtio/guest_iov.h"

namespace hearth::virtio::blk {
namespace {

std::optional<uint64_t> find_status_addr(const DescriptorChain& chain) {
  for (auto it = chain.writable.rbegin(); it != chain.writable.rend(); ++it) {
    if (it->len > 0) return it->addr + it->len - 1;
  }
  return std::nullopt;
}

// sector .. sector+count must lie within the disk; overflow-safe.
bool in_range(uint64_t sector, uint64_t count, uint64_t capacity) {
  return sector <= capacity && count <= capacity - sector;
}

class Parser {
 public:
  Parser(const GuestMemory& mem, const DescriptorChain& chain, const DiskGeometry& disk)
      : mem_(mem), chain_(chain), disk_(disk) {}

  std::variant<Request, Rejection> parse() {
    status_addr_ = find_status_addr(chain_);
    if (!status_addr_) return Rejection{};  // nowhere to put a status: drop
    RequestHeader header{};
    if (chain_.readable_len < kHeaderSize ||
        !copy_from_guest(mem_, chain_.readable,
                         0, std::span(reinterpret_cast<uint8_t*>(&header), sizeof(header)))) {
      return reject(kStatusIoErr);
    }
    req_.type = header.type;
    req_.sector = header.sector;
    req_.status_addr = *status_addr_;
    out_len_ = chain_.readable_len - kHeaderSize;  // data-out bytes
    in_len_ = chain_.writable_len - 1;             // data-in bytes
    switch (header.type) {
      case kTypeIn: return parse_in();
      case kTypeOut: return parse_out();
      case kTypeFlush: return std::move(req_);
      case kTypeGetId: return parse_get_id();
      case kTypeDiscard:
      case kTypeWriteZeroes: return parse_discard();
      default: return reject(kStatusUnsupp);
    }
  }

 private:
  Rejection reject(uint8_t status) const { return Rejection{status_addr_, status}; }

  std::variant<Request, Rejection> parse_in() {
    if (out_len_ != 0 || in_len_ % kSectorSize) return reject(kStatusIoErr);
    if (!in_range(req_.sector, in_len_ >> kSectorShift, disk_.capacity_sectors)) return reject(kStatusIoErr);
    return with_data(chain_.writable, 0, in_len_);
  }

  std::variant<Request, Rejection> parse_out() {
    if (disk_.read_only) return reject(kStatusIoErr);
    if (in_len_ != 0 || out_len_ % kSectorSize) return reject(kStatusIoErr);
    if (!in_range(req_.sector, out_len_ >> kSectorShift, disk_.capacity_sectors)) return reject(kStatusIoErr);
    return with_data(chain_.readable, kHeaderSize, out_len_);
  }

  std::variant<Request, Rejection> parse_get_id() {
    if (out_len_ != 0 || in_len_ < kIdBytes) return reject(kStatusIoErr);
    return with_data(chain_.writable, 0, kIdBytes);
  }

  std::variant<Request, Rejection> parse_discard() {
    if (!disk_.discard) return reject(kStatusUnsupp);
    if (disk_.read_only) return reject(kStatusIoErr);
    if (in_len_ != 0 || out_len_ == 0 || out_len_ % kDiscardSegmentSize) return reject(kStatusIoErr);
    const uint64_t count = out_len_ / kDiscardSegmentSize;
    if (count > kMaxDiscardSegments) return reject(kStatusIoErr);
    const bool zeroes = req_.type == kTypeWriteZeroes;
    for (uint64_t i = 0; i < count; ++i) {
      DiscardSegment seg{};
      if (!copy_from_guest(mem_, chain_.readable, kHeaderSize + i * kDiscardSegmentSize,
                           std::span(reinterpret_cast<uint8_t*>(&seg), sizeof(seg)))) {
        return reject(kStatusIoErr);
      }
      // Spec 5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP.
      const uint32_t allowed = zeroes ? kWriteZeroesFlagUnmap : 0;
      if (seg.flags & ~allowed) return reject(kStatusUnsupp);
      if (seg.num_sectors > kMaxDiscardSectors) return reject(kStatusIoErr);
      if (!in_range(seg.sector, seg.num_sectors, disk_.capacity_sectors)) return reject(kStatusIoErr);
      req_.segments.push_back(seg);
    }
    return std::move(req_);
  }

  std::variant<Request, Rejection> with_data(const std::vector<GuestBuffer>& stream, uint64_t offset,
                                              uint64_t len) {
    auto data = sub_range(stream, offset, len);
    if (!data) return reject(kStatusIoErr);
    req_.data = std::move(*data);
    req_.data_len = static_cast<uint32_t>(len);  // chain totals are < 4 GiB
    return std::move(req_);
  }

  const GuestMemory& mem_;
  const DescriptorChain& chain_;
  const DiskGeometry& disk_;
  std::optional<uint64_t> status_addr_;
  Request req_;
  uint64_t out_len_ = 0;
  uint64_t in_len_ = 0;
};

}  // namespace

std::variant<Request, Rejection> parse_request(const GuestMemory& mem, const DescriptorChain& chain,
                                               const DiskGeometry& disk) {
  return Parser(mem, chain, disk).parse();
}

}  // namespace hearth::virtio::blk
