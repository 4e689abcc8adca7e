#include "disk/header_slots.hpp"

#include <optional>
#include <vector>

#include "disk/disk_error.hpp"
#include "storage/file_storage.hpp"

namespace hostcrypt::disk {

namespace {

struct SlotReading {
    std::optional<DiskHeader> header;
    std::optional<DiskError> error;
};

SlotReading read_slot(storage::Storage& storage, std::size_t index, const std::string& disk) {
    std::vector<std::byte> slot(header_slot_size);
    const std::size_t got = storage.read_at(slot, header_slot_offsets[index]);
    slot.resize(got);
    try {
        return {decode_header_slot(slot, disk), std::nullopt};
    } catch (const DiskError& error) {
        return {std::nullopt, error};
    }
}

// How much an error says about the disk: a damaged hostcrypt header beats an
// empty or foreign slot.
int weight(DiskErrc code) {
    switch (code) {
        case DiskErrc::unsupported_version:
            return 4;
        case DiskErrc::bad_checksum:
        case DiskErrc::corrupt:
            return 3;
        case DiskErrc::truncated:
            return 2;
        default:
            return 1;
    }
}

}  // namespace

std::array<SlotStatus, 2> inspect_header_slots(storage::Storage& storage, const std::string& disk) {
    std::array<SlotStatus, 2> status;
    for (std::size_t i = 0; i < 2; ++i) {
        const SlotReading reading = read_slot(storage, i, disk);
        if (reading.header) {
            status[i] = {true, reading.header->sequence, {}};
        } else {
            status[i] = {false, 0, reading.error->what()};
        }
    }
    return status;
}

DiskHeader read_newest_header(const CatalogEntry& entry) {
    const auto storage =
        storage::FileStorage::open(entry.path, storage::FileStorage::Mode::read_only);
    return read_newest_header(*storage, entry.name);
}

std::vector<DiskHeader> valid_header_slots(storage::Storage& storage, const std::string& disk) {
    std::vector<DiskHeader> headers;
    for (std::size_t i = 0; i < 2; ++i) {
        if (SlotReading reading = read_slot(storage, i, disk); reading.header) {
            headers.push_back(std::move(*reading.header));
        }
    }
    return headers;
}

bool header_slots_in_step(storage::Storage& storage, const std::string& disk) {
    const std::vector<DiskHeader> headers = valid_header_slots(storage, disk);
    return headers.size() == 2 && headers[0].sequence == headers[1].sequence;
}

DiskHeader read_newest_header(storage::Storage& storage, const std::string& disk) {
    SlotReading slots[2] = {read_slot(storage, 0, disk), read_slot(storage, 1, disk)};
    if (slots[0].header && slots[1].header) {
        return slots[0].header->sequence >= slots[1].header->sequence ? *slots[0].header
                                                                      : *slots[1].header;
    }
    for (const SlotReading& slot : slots) {
        if (slot.header) {
            return *slot.header;
        }
    }
    const DiskError& first = *slots[0].error;
    const DiskError& second = *slots[1].error;
    throw weight(second.code()) > weight(first.code()) ? second : first;
}

DiskHeader write_header(storage::Storage& storage, DiskHeader header, const std::string& disk) {
    const SlotReading slots[2] = {read_slot(storage, 0, disk), read_slot(storage, 1, disk)};
    const std::uint64_t sequences[2] = {slots[0].header ? slots[0].header->sequence : 0,
                                        slots[1].header ? slots[1].header->sequence : 0};
    header.sequence = std::max(sequences[0], sequences[1]) + 1;
    // The slot with the newest header is written last; on a tie, slot 0 is.
    const std::size_t first = sequences[1] > sequences[0] ? 0 : 1;
    const std::vector<std::byte> encoded = encode_header_slot(header, disk);
    for (const std::size_t index : {first, 1 - first}) {
        storage.write_at(encoded, header_slot_offsets[index]);
        storage.sync();
    }
    return header;
}

}  // namespace hostcrypt::disk
