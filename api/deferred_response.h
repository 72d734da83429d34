#pragma once
// A response that is not known when the handler returns (PUT /migration/send answers when the VM runs
// elsewhere). The API thread keeps serving other connections; the one waiting gets the response when
// complete() is called from any thread.
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "api/http_parser.h"

namespace hearth::api {

class DeferredResponse {
 public:
  // Any thread, once; later calls are ignored.
  void complete(HttpResponse response);
  // API thread: the response once complete.
  std::optional<HttpResponse> take();
  // API thread: `wake` runs (on the completing thread) when complete() is called, or now if it was.
  void on_complete(std::function<void()> wake);

 private:
  std::mutex mutex_;
  std::optional<HttpResponse> response_;
  bool taken_ = false;
  std::function<void()> wake_;
};

}  // namespace hearth::api
