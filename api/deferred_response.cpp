#include "api/deferred_response.h"

namespace hearth::api {

void DeferredResponse::complete(HttpResponse response) {
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex_);
    if (response_ || taken_) return;
    response_ = std::move(response);
    wake = wake_;
  }
  if (wake) wake();
}

std::optional<HttpResponse> DeferredResponse::take() {
  std::lock_guard lock(mutex_);
  if (!response_) return std::nullopt;
  taken_ = true;
  auto r = std::move(response_);
  response_.reset();
  return r;
}

void DeferredResponse::on_complete(std::function<void()> wake) {
  bool now;
  {
    std::lock_guard lock(mutex_);
    wake_ = wake;
    now = response_.has_value();
  }
  if (now) wake();
}

}  // namespace hearth::api
