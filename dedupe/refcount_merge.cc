#include "dedupe/refcount_merge.h"

#include "common/coding.h"

namespace layerdisk {

std::string EncodeRefRecord(const RefRecord& r) {
  std::string out;
  PutFixed64(&out, static_cast<uint64_t>(r.refs));
  PutFixed32(&out, r.raw_length);
  PutFixed32(&out, r.stored_length);
  return out;
}

std::optional<RefRecord> DecodeRefRecord(std::string_view bytes) {
  if (bytes.size() != kRefRecordSize) return std::nullopt;
  RefRecord r;
  r.refs = static_cast<int64_t>(DecodeFixed64(bytes.data()));
  r.raw_length = DecodeFixed32(bytes.data() + 8);
  r.stored_length = DecodeFixed32(bytes.data() + 12);
  return r;
}

namespace {

class RefCountMergeOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* logger) const override {
    std::optional<RefRecord> add =
        DecodeRefRecord(std::string_view(value.data(), value.size()));
    if (!add) return false;  // corrupt operand: RocksDB reports Corruption
    RefRecord sum;
    if (existing != nullptr) {
      std::optional<RefRecord> base =
          DecodeRefRecord(std::string_view(existing->data(), existing->size()));
      if (!base) return false;
      sum = *base;
    }
    sum.refs += add->refs;
    if (add->raw_length != 0) sum.raw_length = add->raw_length;
    if (add->stored_length != 0) sum.stored_length = add->stored_length;
    *new_value = EncodeRefRecord(sum);
    return true;
  }
  const char* Name() const override { return "layerdisk.RefCount"; }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewRefCountMergeOperator() {
  return std::make_shared<RefCountMergeOperator>();
}

}  // namespace layerdisk
