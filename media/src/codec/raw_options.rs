//! The one place with `unsafe`: openh264 options that the `openh264` crate's `EncoderConfig`
//! does not wrap, set through its raw API.
//!
//! The crate's `EncoderConfig` offers one slice, or slices limited in bytes; it cannot ask for a
//! fixed number of slices, which is what lets openh264 spread one picture over several threads
//! with few, large NAL units. That is a plain field of `SEncParamExt`, which
//! `ENCODER_OPTION_SVC_ENCODE_PARAM_EXT` reads and writes.
//!
//! Audit notes (openh264 2.x `welsEncoderExt.cpp`, the source the crate builds):
//! - `GetOption(ENCODER_OPTION_SVC_ENCODE_PARAM_EXT)` `memcpy`s `sizeof(SEncParamExt)` bytes of
//!   the encoder's own parameters into the pointer; `SetOption` `memcpy`s as many out of it.
//!   Both pointers are to a local `SEncParamExt` that lives across the call, so neither side
//!   reads or writes out of bounds, and nothing keeps the pointer afterwards.
//! - Both calls need an initialised encoder; the crate initialises it on the first `encode`,
//!   so [`apply`] must run after one. Before that `GetOption` fails, which is reported, not UB.
//! - `SetOption` validates the new parameters and, when the slice layout changed, rebuilds its
//!   context (`WelsEncoderParamAdjust`: uninit, init): the next picture is an IDR. The crate
//!   holds nothing that depends on the old context (its `SFrameBSInfo` is refilled by every
//!   `EncodeFrame`), so its `Encoder` stays valid.
//! - `SetOption(ENCODER_OPTION_BITRATE)` reads one `SBitrateInfo` (layer, bits per second),
//!   clips the rate to openh264's range, stores it as the target and re-divides it over the
//!   spatial layers (`WelsEncoderApplyBitRate`); its rate control notices the new target on the
//!   next picture (`RcUpdateBitrateFps`). No context rebuild, no IDR. It fails if the target
//!   would exceed the layer's maximum (the crate sets maximum = target at init), having
//!   written the target already; `ENCODER_OPTION_MAX_BITRATE` changes that maximum, and only
//!   for a named layer (`SPATIAL_LAYER_0`: with `SPATIAL_LAYER_ALL` it writes a field the
//!   encoder does not use). So [`set_bitrate`] raises the maximum before the target and lowers
//!   it after, keeping target <= maximum at every step.
//! - `SetOption(ENCODER_OPTION_FRAME_RATE)` reads one `float`, clips it and re-derives the
//!   per-layer frame rates; likewise no rebuild.
//! - The crate documents `raw_api` as unsafe only because one may set parameters it relies on:
//!   it relies on the picture size (unchanged here) and on single-layer output (unchanged).

#![allow(unsafe_code)]

use openh264::encoder::Encoder;
use openh264_sys2::{
    ENCODER_OPTION, ENCODER_OPTION_BITRATE, ENCODER_OPTION_FRAME_RATE, ENCODER_OPTION_MAX_BITRATE,
    ENCODER_OPTION_SVC_ENCODE_PARAM_EXT, SBitrateInfo, SEncParamExt, SM_FIXEDSLCNUM_SLICE,
    SPATIAL_LAYER_0,
};

/// What [`apply`] changes in an initialised encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawOptions {
    /// Cut every picture into this many slices (openh264 `SM_FIXEDSLCNUM_SLICE`).
    pub slice_count: u32,
}

/// Applies `options` to an encoder that has encoded at least one picture. The next picture is
/// an IDR when the slice layout changed.
pub(crate) fn apply(encoder: &mut Encoder, options: RawOptions) -> Result<(), openh264::Error> {
    let mut params = SEncParamExt::default();
    // SAFETY: see the module notes: a valid, exclusively borrowed `SEncParamExt` of the size
    // openh264 copies; the encoder was initialised by the crate's first `encode`.
    let got = unsafe {
        encoder.raw_api().get_option(ENCODER_OPTION_SVC_ENCODE_PARAM_EXT, (&raw mut params).cast())
    };
    check(got, "GetOption(SVC_ENCODE_PARAM_EXT)")?;
    let layer = &mut params.sSpatialLayers[0];
    layer.sSliceArgument.uiSliceMode = SM_FIXEDSLCNUM_SLICE;
    layer.sSliceArgument.uiSliceNum = options.slice_count;
    layer.sSliceArgument.uiSliceSizeConstraint = 0;
    // A NAL size limit is only valid with size-limited slices.
    params.uiMaxNalSize = 0;
    // SAFETY: as above; openh264 copies the struct and keeps no pointer to it.
    let set = unsafe {
        encoder.raw_api().set_option(ENCODER_OPTION_SVC_ENCODE_PARAM_EXT, (&raw mut params).cast())
    };
    check(set, "SetOption(SVC_ENCODE_PARAM_EXT)")
}

/// Changes the target bitrate of an initialised encoder from `from` to `to` bits per second
/// in place: the next picture is not an IDR. The layer's maximum follows the target.
pub(crate) fn set_bitrate(
    encoder: &mut Encoder,
    from: u32,
    to: u32,
) -> Result<(), openh264::Error> {
    let max = (ENCODER_OPTION_MAX_BITRATE, "SetOption(MAX_BITRATE)");
    let target = (ENCODER_OPTION_BITRATE, "SetOption(BITRATE)");
    let order = if to > from { [max, target] } else { [target, max] };
    for (option, name) in order {
        set_layer_bitrate(encoder, option, to, name)?;
    }
    Ok(())
}

fn set_layer_bitrate(
    encoder: &mut Encoder,
    option: ENCODER_OPTION,
    bps: u32,
    name: &str,
) -> Result<(), openh264::Error> {
    let bitrate = i32::try_from(bps).unwrap_or(i32::MAX);
    let mut info = SBitrateInfo { iLayer: SPATIAL_LAYER_0, iBitrate: bitrate };
    // SAFETY: a valid, exclusively borrowed `SBitrateInfo`, the type openh264 reads for both
    // bitrate options; it copies the two fields and keeps no pointer. The encoder is
    // initialised.
    let set = unsafe { encoder.raw_api().set_option(option, (&raw mut info).cast()) };
    check(set, name)
}

/// Changes the frame rate the rate control budgets for, in place.
pub(crate) fn set_frame_rate(encoder: &mut Encoder, fps: f32) -> Result<(), openh264::Error> {
    let mut value = fps;
    // SAFETY: a valid, exclusively borrowed `f32`, the type openh264 reads for this option;
    // copied, not kept. The encoder is initialised.
    let set =
        unsafe { encoder.raw_api().set_option(ENCODER_OPTION_FRAME_RATE, (&raw mut value).cast()) };
    check(set, "SetOption(FRAME_RATE)")
}

fn check(code: i32, what: &str) -> Result<(), openh264::Error> {
    match code {
        0 => Ok(()),
        code => Err(openh264::Error::msg_string(format!("openh264 {what} failed with {code}"))),
    }
}
