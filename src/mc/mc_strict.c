/* mc_strict.c: which members of a job's settings CatTube honours.
 *
 * DESIGN: the model (mc_model.c) knows every MediaConvert field; this table
 * says, per settings object (model shape), which of its members CatTube
 * does something with. A member of a listed shape that is not honoured is
 * accepted only when it cannot change the output:
 *   name          honoured (mc_plan.c / mc_codecs.c / mc_inputs.c read it
 *                 and check its value)
 *   name=A|B      accepted silently at these values (MediaConvert's default
 *                 or a no-op), any other value answers 400
 *   name~A|B      ignored but harmless (encoder tuning, stream numbering,
 *                 signalling): silent at these values, otherwise accepted
 *                 with a messages.warning; "name~" warns at any value
 *   name*         purely descriptive: any value, silently
 * Any other member of a listed shape answers 400 "unsupported field". An
 * empty object, array or string is never an error (it asks for nothing).
 * Shapes not listed are checked by their parent only (e.g. TimecodeConfig,
 * whose parent member is descriptive). The fields in mc_model.c's policy
 * table (crop, captions, ...) are decided there, before this table. */
#include "mc/mc_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Encoder tuning x264/x265 decide for themselves (warned when not at
 * MediaConvert's defaults). */
#define AVC_HEVC_TUNING                                                                            \
    " adaptiveQuantization~AUTO|MEDIUM|HIGH dynamicSubGop~STATIC flickerAdaptiveQuantization~DISABLED" \
    " gopBReference~DISABLED|ENABLED gopClosedCadence~0|1 minIInterval~0"                       \
    " numberBFramesBetweenReferenceFrames~0|1|2|3 numberReferenceFrames~1|2|3"                  \
    " qualityTuningLevel~SINGLE_PASS|SINGLE_PASS_HQ|MULTI_PASS_HQ slices~1"                       \
    " spatialAdaptiveQuantization~ENABLED temporalAdaptiveQuantization~ENABLED"                 \
    " unregisteredSeiTimecode~DISABLED hrdBufferInitialFillPercentage~90"                       \
    " hrdBufferFinalFillPercentage~90 fieldEncoding* scanTypeConversionMode* parControl=INITIALIZE_FROM_SOURCE" \
    " parNumerator* parDenominator*"
#define RATE_GOP " bitrate maxBitrate hrdBufferSize rateControlMode qvbrSettings gopSize gopSizeUnits" \
    " framerateControl framerateConversionAlgorithm framerateNumerator framerateDenominator"
#define GROUP_COMMON " destination baseUrl segmentLength minFinalSegmentLength segmentControl additionalManifests" \
    " encryption imageBasedTrickPlay destinationSettings=  imageBasedTrickPlaySettings=" \
    " segmentLengthControl~EXACT"
#define INPUT_COMMON " audioSelectors videoSelector inputClippings timecodeSource timecodeStart" \
    " deblockFilter denoiseFilter filterEnable filterStrength" \
    " inputScanType=AUTO psiControl~USE_PSI programNumber=1 captionSelectors~"
#define TS_MUX " audioFramesPerPes~4 audioPids* dataPTSControl~AUTO maxPcrInterval~80 patInterval~0" \
    " pcrControl~PCR_EVERY_PES_PACKET pcrPid~481 pmtInterval~0 pmtPid~480 privateMetadataPid~503" \
    " programNumber~1 scte35Pid~500 transportStreamId~1 videoPid~481 timedMetadataPid~502" \
    " audioDuration~DEFAULT_CODEC_DURATION nielsenId3=NONE scte35Source=NONE timedMetadata=NONE"
#define FMP4_META " klvMetadata=NONE manifestMetadataSignaling=DISABLED scte35Esam=NONE scte35Source=NONE" \
    " timedMetadata=NONE timedMetadataBoxVersion* timedMetadataSchemeIdUri* timedMetadataValue*"  \
    " audioDuration~DEFAULT_CODEC_DURATION"
#define HLS_RENDITION " audioGroupId~program_audio audioRenditionSets~program_audio" \
    " audioTrackType~ALTERNATE_AUDIO_AUTO_SELECT_DEFAULT descriptiveVideoServiceFlag=DONT_FLAG" \
    " iFrameOnlyManifest=EXCLUDE"

static const struct {
    const char *shape, *members;
} k_shapes[] = {
    {"JobSettings", "inputs outputGroups timecodeConfig* adAvailOffset=0"},
    {"JobTemplateSettings", "inputs outputGroups timecodeConfig* adAvailOffset=0"},
    {"Input", "fileInput" INPUT_COMMON},
    {"InputTemplate", INPUT_COMMON},
    {"VideoSelector", "rotate alphaBehavior~DISCARD colorSpace=FOLLOW colorSpaceUsage*"
                      " embeddedTimecodeOverride~NONE padVideo=DISABLED sampleRange=FOLLOW"},
    {"AudioSelector", "customLanguageCode defaultSelection languageCode offset pids selectorType tracks"
                      " remixSettings audioDurationCorrection=DISABLED programSelection*"},
    {"OutputGroup", "name customName* outputGroupSettings outputs"},
    {"OutputGroupSettings", "type fileGroupSettings hlsGroupSettings dashIsoGroupSettings cmafGroupSettings"},
    {"FileGroupSettings", "destination destinationSettings="},
    {"HlsGroupSettings", GROUP_COMMON " minSegmentLength outputSelection adMarkers manifestCompression"
                         " manifestDurationFormat streamInfResolution directoryStructure programDateTime"
                         " programDateTimePeriod* segmentsPerSubdirectory* audioOnlyHeader~INCLUDE"
                         " captionLanguageSetting~OMIT captionLanguageMappings= captionSegmentLengthControl*"
                         " clientCache~ENABLED codecSpecification~RFC_4281 targetDurationCompatibilityMode~LEGACY"
                         " timedMetadataId3Frame~PRIV timedMetadataId3Period~10 timestampDeltaMilliseconds~0"},
    {"DashIsoGroupSettings", GROUP_COMMON " fragmentLength minBufferTime mpdProfile mpdManifestBandwidthType"
                             " writeSegmentTimelineInRepresentation hbbtvCompliance audioChannelConfigSchemeIdUri"
                             " videoCompositionOffsets ptsOffsetHandlingForBFrames~ZERO_BASED"},
    {"CmafGroupSettings", GROUP_COMMON " fragmentLength minBufferTime mpdProfile mpdManifestBandwidthType"
                          " writeSegmentTimelineInRepresentation writeHlsManifest writeDashManifest"
                          " manifestCompression manifestDurationFormat streamInfResolution videoCompositionOffsets"
                          " ptsOffsetHandlingForBFrames~ZERO_BASED clientCache~ENABLED"
                          " codecSpecification~RFC_6381 targetDurationCompatibilityMode~LEGACY"},
    {"Output", "audioDescriptions containerSettings extension nameModifier outputSettings preset videoDescription"},
    {"PresetSettings", "audioDescriptions containerSettings videoDescription"},
    {"OutputSettings", "hlsSettings"},
    {"HlsSettings", HLS_RENDITION " audioOnlyContainer~AUTOMATIC segmentModifier="},
    {"ContainerSettings", "container mp4Settings movSettings m3u8Settings cmfcSettings mpdSettings"},
    {"Mp4Settings", "audioDuration=DEFAULT_CODEC_DURATION cslgAtom~INCLUDE cttsVersion* freeSpaceBox~EXCLUDE"
                    " moovPlacement~PROGRESSIVE_DOWNLOAD mp4MajorBrand~"},
    {"MovSettings", "clapAtom~EXCLUDE cslgAtom~INCLUDE mpeg2FourCCControl* paddingControl~OMNEON"
                    " reference=SELF_CONTAINED"},
    {"M3u8Settings", TS_MUX},
    {"CmfcSettings", FMP4_META HLS_RENDITION},
    {"MpdSettings", FMP4_META " accessibilityCaptionHints~EXCLUDE captionContainerType~RAW"},
    {"VideoDescription", "codecSettings width height scalingBehavior videoPreprocessors afdSignaling~NONE"
                         " antiAlias~ENABLED colorMetadata=INSERT dropFrameTimecode* fixedAfd~"
                         " respondToAfd=NONE sharpness~50 timecodeInsertion~DISABLED"},
    {"VideoCodecSettings", "codec h264Settings h265Settings av1Settings vp8Settings vp9Settings frameCaptureSettings"},
    {"H264Settings", RATE_GOP AVC_HEVC_TUNING " sceneChangeDetect codecProfile codecLevel"
                     " entropyEncoding~CABAC repeatPps~DISABLED softness~0 syntax=DEFAULT"},
    {"H265Settings", RATE_GOP AVC_HEVC_TUNING " sceneChangeDetect codecProfile codecLevel"
                     " alternateTransferFunctionSei~DISABLED sampleAdaptiveOffsetFilterMode~ADAPTIVE|DEFAULT"
                     " temporalIds~DISABLED tiles~ENABLED|DISABLED writeMp4PackagingType=HVC1"},
    {"Av1Settings", "maxBitrate rateControlMode qvbrSettings gopSize framerateControl framerateConversionAlgorithm"
                    " framerateNumerator framerateDenominator adaptiveQuantization~HIGH bitDepth"
                    " numberBFramesBetweenReferenceFrames~7 slices~1 spatialAdaptiveQuantization~ENABLED"},
    {"Vp8Settings", "bitrate maxBitrate hrdBufferSize rateControlMode gopSize framerateControl"
                    " framerateConversionAlgorithm framerateNumerator framerateDenominator"
                    " parControl=INITIALIZE_FROM_SOURCE parNumerator* parDenominator*"
                    " qualityTuningLevel~MULTI_PASS|MULTI_PASS_HQ"},
    {"Vp9Settings", "bitrate maxBitrate hrdBufferSize rateControlMode gopSize framerateControl"
                    " framerateConversionAlgorithm framerateNumerator framerateDenominator"
                    " parControl=INITIALIZE_FROM_SOURCE parNumerator* parDenominator*"
                    " qualityTuningLevel~MULTI_PASS|MULTI_PASS_HQ"},
    {"H264QvbrSettings", "qvbrQualityLevel maxAverageBitrate~ qvbrQualityLevelFineTune~0"},
    {"H265QvbrSettings", "qvbrQualityLevel maxAverageBitrate~ qvbrQualityLevelFineTune~0"},
    {"Av1QvbrSettings", "qvbrQualityLevel qvbrQualityLevelFineTune~0"},
    {"AudioDescription", "audioSourceName codecSettings customLanguageCode languageCode languageCodeControl"
                         " streamName audioType* audioTypeControl* audioChannelTaggingSettings~"},
    {"AudioCodecSettings", "codec aacSettings opusSettings mp3Settings vorbisSettings"},
    {"AacSettings", "bitrate codecProfile codingMode sampleRate audioDescriptionBroadcasterMix=NORMAL"
                    " rateControlMode=CBR rawFormat=NONE specification=MPEG4 vbrQuality*"},
};

/* The token for member in spec: its kind ('\0' honoured, '=', '~', '*')
 * and values ("A|B"). 0 when found. */
static int spec_find(const char *spec, const char *member, char *kind, const char **vals, size_t *vlen)
{
    size_t ml = strlen(member);
    for (const char *p = spec; *p;) {
        while (*p == ' ')
            p++;
        size_t tl = strcspn(p, " ");
        if (tl > ml && strncmp(p, member, ml) == 0 && strchr("=~*", p[ml])) {
            *kind = p[ml];
            *vals = p + ml + 1;
            *vlen = tl - ml - 1;
            return 0;
        }
        if (tl == ml && strncmp(p, member, ml) == 0) {
            *kind = '\0';
            return 0;
        }
        p += tl;
    }
    return -1;
}

/* The value as the table writes it: a string, an integer, true/false. */
static int value_text(const json_t *v, char *out, size_t n)
{
    if (json_is_string(v))
        return snprintf(out, n, "%s", json_string_value(v)) < (int)n ? 0 : -1;
    if (json_is_integer(v))
        return snprintf(out, n, "%lld", (long long)json_integer_value(v)), 0;
    if (json_is_real(v) && fabs(json_real_value(v)) < 1e15 &&
        json_real_value(v) == (double)(long long)json_real_value(v))
        return snprintf(out, n, "%lld", (long long)json_real_value(v)), 0;
    if (json_is_boolean(v))
        return snprintf(out, n, "%s", json_is_true(v) ? "true" : "false"), 0;
    return -1;
}

static int value_in(const json_t *v, const char *vals, size_t vlen)
{
    char text[128];
    if (value_text(v, text, sizeof text))
        return 0;
    size_t tl = strlen(text);
    for (size_t i = 0; i < vlen;) {
        size_t l = strcspn(vals + i, "| ");
        if (l > vlen - i)
            l = vlen - i;
        if (l == tl && strncmp(vals + i, text, tl) == 0)
            return 1;
        i += l + 1;
    }
    return 0;
}

static int is_empty(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) == 0) || (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_string(v) && json_string_length(v) == 0);
}

int mc_strict_member(const char *shape, const char *member, const json_t *val, mc_diag *d)
{
    size_t i = 0;
    while (i < CT_ARRAY_LEN(k_shapes) && strcmp(k_shapes[i].shape, shape) != 0)
        i++;
    if (i == CT_ARRAY_LEN(k_shapes) || is_empty(val))
        return 0;
    char kind, text[128];
    const char *vals = "";
    size_t vlen = 0;
    if (spec_find(k_shapes[i].members, member, &kind, &vals, &vlen))
        return mc_fail(d, "unsupported field (CatTube does not implement it; leave it out)");
    if (kind == '\0' || kind == '*' || value_in(val, vals, vlen))
        return 0;
    if (kind == '~') {
        mc_warn(d, "not implemented by CatTube; ignored");
        return 0;
    }
    if (value_text(val, text, sizeof text)) /* an object or list that asks for something */
        return mc_fail(d, "unsupported field (CatTube does not implement it; leave it out)");
    if (vlen == 0)
        return mc_fail(d, "unsupported value \"%.64s\" (CatTube does not implement it; leave it out)", text);
    char list[256];
    size_t n = 0;
    for (size_t k = 0; k < vlen && n + 3 < sizeof list; k++) {
        if (vals[k] == '|') {
            list[n++] = ',';
            list[n++] = ' ';
        } else {
            list[n++] = vals[k];
        }
    }
    list[n] = '\0';
    return mc_fail(d, "unsupported value \"%.64s\" (CatTube does not implement it; supported: %s)", text, list);
}
