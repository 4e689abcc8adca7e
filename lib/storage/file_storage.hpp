#pragma once

#include <filesystem>
#include <memory>

#include "common/unique_fd.hpp"
#include "storage/storage.hpp"

namespace hostcrypt::storage {

// A regular file or a block device, through pread/pwrite/fsync.
class FileStorage final : public Storage {
  public:
    enum class Mode { read_only, read_write };

    // Throws hostcrypt::Error naming the path if it cannot be opened or is
    // neither a regular file nor a block device.
    static std::unique_ptr<FileStorage> open(const std::filesystem::path& path, Mode mode);
    // Creates a new sparse regular file of `size` bytes; refuses to replace one.
    static std::unique_ptr<FileStorage> create(const std::filesystem::path& path,
                                               std::uint64_t size);

    const std::string& name() const override { return name_; }
    std::uint64_t size() const override;
    std::size_t read_at(std::span<std::byte> bytes, std::uint64_t offset) override;
    void write_at(std::span<const std::byte> bytes, std::uint64_t offset) override;
    // Through a private io_uring, up to 64 pieces in flight.
    void write_many(std::span<const Piece> pieces) override;
    void sync() override;

  private:
    FileStorage(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
    UniqueFd fd_;
    std::string name_;
};

}  // namespace hostcrypt::storage
